import { Counter, Histogram, Registry } from "prom-client";

/** The KBS's own Prometheus registry (never the global one, so several KBS in one process stay apart). */
export class KbsMetrics {
  readonly registry = new Registry();
  readonly auth = new Counter({ name: "kbs_auth_total", help: "POST /auth by TEE and outcome", labelNames: ["tee", "outcome"], registers: [this.registry] });
  readonly attest = new Counter({ name: "kbs_attest_total", help: "POST /attest by TEE and EAR status (or denial)", labelNames: ["tee", "status"], registers: [this.registry] });
  readonly attestSeconds = new Histogram({
    name: "kbs_attest_duration_seconds",
    help: "Verification + appraisal + signing time",
    labelNames: ["tee"],
    buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
    registers: [this.registry],
  });
  readonly release = new Counter({ name: "kbs_resource_total", help: "GET /resource by outcome", labelNames: ["outcome"], registers: [this.registry] });
  readonly admin = new Counter({ name: "kbs_admin_total", help: "Admin API calls by action and outcome", labelNames: ["action", "outcome"], registers: [this.registry] });
  readonly rateLimited = new Counter({ name: "kbs_rate_limited_total", help: "Requests refused with 429", labelNames: ["route"], registers: [this.registry] });
}
