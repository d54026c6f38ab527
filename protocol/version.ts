/** Version of the MQTT wire protocol spoken by manager, proplets and firmware. */
export const PROTOCOL_VERSION = 1 as const;
