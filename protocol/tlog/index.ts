export * from "./merkle.js";
export * from "./note.js";
export * from "./cosignature.js";
export * from "./checkpoint.js";
export * from "./bundle.js";
export * from "./frontier.js";
export * from "./tiles.js";
