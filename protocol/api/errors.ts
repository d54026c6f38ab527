/** How every REST error reads: a stable `code` (what the CLI and scripts match on) and a message for people. */
import { type Static } from "@sinclair/typebox";
import { CodedError } from "./common.js";

export const ErrorReply = CodedError;
export type ErrorReply = Static<typeof ErrorReply>;
