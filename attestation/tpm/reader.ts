import { EvidenceFormatError } from "../errors.js";

/**
 * Big-endian reader for TPM 2.0 marshalled structures. Every read is bounds-checked and throws
 * EvidenceFormatError naming the field, so a truncated or hostile blob can never read past its end.
 */
export class TpmReader {
  private offset = 0;

  constructor(
    private readonly bytes: Buffer,
    private readonly what: string,
  ) {}

  get position(): number {
    return this.offset;
  }

  get remaining(): number {
    return this.bytes.byteLength - this.offset;
  }

  private need(n: number, field: string): void {
    if (n > this.remaining) {
      throw new EvidenceFormatError(`${this.what}: truncated at ${field}`, {
        field,
        offset: this.offset,
        needed: n,
        available: this.remaining,
      });
    }
  }

  u8(field: string): number {
    this.need(1, field);
    const v = this.bytes.readUInt8(this.offset);
    this.offset += 1;
    return v;
  }

  u16(field: string): number {
    this.need(2, field);
    const v = this.bytes.readUInt16BE(this.offset);
    this.offset += 2;
    return v;
  }

  u32(field: string): number {
    this.need(4, field);
    const v = this.bytes.readUInt32BE(this.offset);
    this.offset += 4;
    return v;
  }

  u64(field: string): bigint {
    this.need(8, field);
    const v = this.bytes.readBigUInt64BE(this.offset);
    this.offset += 8;
    return v;
  }

  /** `n` raw bytes, copied so callers never alias the input buffer. */
  bytesOf(n: number, field: string): Buffer {
    this.need(n, field);
    const v = Buffer.from(this.bytes.subarray(this.offset, this.offset + n));
    this.offset += n;
    return v;
  }

  /** A TPM2B_*: u16 size then that many bytes, with the structure's own maximum size. */
  tpm2b(field: string, max: number): Buffer {
    const size = this.u16(`${field}.size`);
    if (size > max) {
      throw new EvidenceFormatError(`${this.what}: ${field} is ${size} bytes, more than its maximum ${max}`, {
        field,
        size,
        max,
      });
    }
    return this.bytesOf(size, field);
  }

  /** Structures are exact: bytes left over mean we misread it, or someone appended data. */
  end(): void {
    if (this.remaining !== 0) {
      throw new EvidenceFormatError(`${this.what}: ${this.remaining} unexpected trailing bytes`, {
        offset: this.offset,
        trailing: this.remaining,
      });
    }
  }
}
