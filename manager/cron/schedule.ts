/**
 * Cron expressions: checked at submission, read in the schedule's time zone. 5 fields have minute
 * precision; 6 fields start with seconds. Pure: no I/O.
 */
import { CronExpressionParser } from "cron-parser";
import { InvalidRequestError } from "../errors.js";
import type { CronSchedule } from "../tasks/model.js";
import { messageOf } from "../../lib/errors.js";

/** The first tick strictly after `after`. */
export function nextTick(schedule: Pick<CronSchedule, "cron" | "timeZone">, after: Date): Date {
  const expr = CronExpressionParser.parse(schedule.cron, { currentDate: after, tz: schedule.timeZone, strict: false });
  return expr.next().toDate();
}

/** Refuses an expression that is not 5 or 6 fields, does not parse, or names an unknown time zone. */
export function checkSchedule(schedule: CronSchedule, now: Date): Date {
  const fields = schedule.cron.trim().split(/\s+/);
  if (fields.length !== 5 && fields.length !== 6) {
    throw new InvalidRequestError("invalid_schedule", `schedule.cron must have 5 fields (minute hour day month weekday) or 6 (seconds first); got ${fields.length}`);
  }
  try {
    new Intl.DateTimeFormat("en-US", { timeZone: schedule.timeZone });
  } catch {
    throw new InvalidRequestError("invalid_schedule", `schedule.timeZone "${schedule.timeZone}" is not an IANA time zone (e.g. "UTC", "Europe/Paris")`);
  }
  try {
    return nextTick(schedule, now);
  } catch (err) {
    throw new InvalidRequestError("invalid_schedule", `schedule.cron "${schedule.cron}" does not parse: ${messageOf(err)}`);
  }
}
