export * from "./claims.js";
export * from "./digests.js";
export * from "./sign.js";
export * from "./verify.js";
export * from "./build.js";
