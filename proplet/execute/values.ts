/**
 * Conversion between JSON task inputs / results and Wasm numeric values, driven by the export's
 * signature (read from the module: the JS API does not expose it). i64 travels as a decimal string
 * (JSON numbers lose precision beyond 2^53); i32 results are numbers.
 */
import { EntrypointError } from "../errors.js";
import type { FuncSignature, ValType } from "./wasm-binary.js";
import type { WasmValue } from "./runtime.js";

const DECIMAL = /^-?[0-9]{1,20}$/;

function toBigInt(value: WasmValue, what: string): bigint {
  if (typeof value === "number") {
    if (!Number.isSafeInteger(value)) throw new EntrypointError("invalid_inputs", `${what}: ${value} is not an integer (use a decimal string beyond 2^53)`);
    return BigInt(value);
  }
  if (!DECIMAL.test(value)) throw new EntrypointError("invalid_inputs", `${what}: "${value}" is not a decimal integer`);
  return BigInt(value);
}

function toArg(value: WasmValue, type: ValType, what: string): number | bigint {
  switch (type) {
    case "i32": {
      const v = toBigInt(value, what);
      if (v < -(2n ** 31n) || v > 2n ** 32n - 1n) throw new EntrypointError("invalid_inputs", `${what}: ${v} does not fit an i32`);
      return Number(BigInt.asIntN(32, v));
    }
    case "i64": {
      const v = toBigInt(value, what);
      if (v < -(2n ** 63n) || v > 2n ** 64n - 1n) throw new EntrypointError("invalid_inputs", `${what}: ${v} does not fit an i64`);
      return BigInt.asIntN(64, v);
    }
    case "f32":
    case "f64": {
      const v = typeof value === "number" ? value : Number(value);
      if (!Number.isFinite(v)) throw new EntrypointError("invalid_inputs", `${what}: "${value}" is not a finite number`);
      return v;
    }
    default:
      throw new EntrypointError("unsupported_signature", `${what}: parameters of type ${type} cannot be given as JSON inputs`);
  }
}

/** Converts the task's inputs to the arguments of an export with this signature. */
export function toWasmArgs(name: string, inputs: readonly WasmValue[], sig: FuncSignature): Array<number | bigint> {
  if (inputs.length !== sig.params.length) {
    throw new EntrypointError(
      "invalid_inputs",
      `export "${name}" takes ${sig.params.length} input(s) (${sig.params.join(", ") || "none"}), got ${inputs.length}`,
    );
  }
  for (const t of sig.results) {
    if (t !== "i32" && t !== "i64" && t !== "f32" && t !== "f64") {
      throw new EntrypointError("unsupported_signature", `export "${name}" returns a ${t}, which has no JSON form`);
    }
  }
  return inputs.map((v, i) => toArg(v, sig.params[i]!, `input ${i} of "${name}" (${sig.params[i]})`));
}

/** Converts what an export returned (undefined, one value, or an array for multi-value) to JSON. */
export function fromWasmResults(raw: unknown, sig: FuncSignature): WasmValue[] {
  const values = sig.results.length === 0 ? [] : sig.results.length === 1 ? [raw] : (raw as unknown[]);
  return sig.results.map((type, i) => {
    const v = values[i];
    if (type === "i64") return (v as bigint).toString();
    if (typeof v !== "number" || !Number.isFinite(v)) {
      throw new EntrypointError("unsupported_signature", `result ${i} (${type}) is ${String(v)}, which JSON cannot carry`);
    }
    return v;
  });
}
