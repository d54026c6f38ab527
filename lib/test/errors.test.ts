import { describe, expect, it } from "vitest";
import { ConfigError, configProblem } from "../config-error.js";
import { PropellerError, messageOf } from "../errors.js";
import { PropellerError as ProtocolPropellerError } from "../../protocol/errors.js";

describe("messageOf", () => {
  it("is an Error's message, a message-like object's message, otherwise the string form", () => {
    expect(messageOf(new TypeError("bad"))).toBe("bad");
    expect(messageOf({ message: "from a worker" })).toBe("from a worker");
    expect(messageOf("plain")).toBe("plain");
    expect(messageOf(42)).toBe("42");
    expect(messageOf(undefined)).toBe("undefined");
    expect(messageOf({ message: 1 })).toBe("[object Object]");
  });
});

describe("ConfigError", () => {
  it("is a PropellerError with a default code and its message as the only problem", () => {
    const err = new ConfigError("PROPELLER_X: must be a number");
    expect(err).toBeInstanceOf(PropellerError);
    expect(err).toBeInstanceOf(ProtocolPropellerError);
    expect(err.name).toBe("ConfigError");
    expect(err.code).toBe("invalid_config");
    expect(err.problems).toEqual(["PROPELLER_X: must be a number"]);
    expect(err.details).toBeUndefined();
  });

  it("keeps a box's code and lists every problem, on one line or one per line", () => {
    const line = ConfigError.of("invalid environment", ["A is required", "B: bad"], { code: "service_env_invalid" });
    expect(line.message).toBe("invalid environment: A is required; B: bad");
    expect(line.code).toBe("service_env_invalid");
    expect(line.problems).toEqual(["A is required", "B: bad"]);
    expect(line.details).toEqual({ problems: ["A is required", "B: bad"] });
    const list = ConfigError.of("invalid KBS configuration", ["A", "B"], { layout: "list" });
    expect(list.message).toBe("invalid KBS configuration:\n  - A\n  - B");
  });

  it("configProblem names the variable, the problem and the fix", () => {
    expect(configProblem("PROPELLER_PORT", '"x" is not a port number')).toBe('PROPELLER_PORT: "x" is not a port number');
    expect(configProblem("PROPELLER_MQTT_URL", "is required", "set it to mqtts://host:8883")).toBe("PROPELLER_MQTT_URL: is required; set it to mqtts://host:8883");
  });
});
