// The bounded reader lives in lib/; protocol/ keeps this name for its importers.
export { readBoundedText } from "../lib/bounded-read.js";
