// ESLint over the TypeScript sources: typescript-eslint's recommended rules (syntax only, no type
// information, so it stays fast). `any` needs a disable comment that says why.
import js from "@eslint/js";
import tseslint from "typescript-eslint";

export default tseslint.config(
  { ignores: ["node_modules/**", "dist/**", "firmware/**", "coverage/**", "**/*.js", "**/*.cjs", "**/*.mjs"] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    linterOptions: { reportUnusedDisableDirectives: "error" },
    rules: {
      // A leading underscore marks a value that is deliberately dropped (destructuring a field out).
      // A closure that reads a variable assigned later (a connection made after the callbacks that use
      // it are wired) cannot be const: the rule would otherwise ask for a temporal-dead-zone hazard.
      "prefer-const": ["error", { ignoreReadBeforeAssign: true }],
      "@typescript-eslint/no-unused-vars": ["error", { argsIgnorePattern: "^_", varsIgnorePattern: "^_", destructuredArrayIgnorePattern: "^_" }],
    },
  },
);
