// The API key format is a contract between the manager and the CLI, so it lives in protocol/.
export * from "../../protocol/api-key.js";
