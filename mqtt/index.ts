export { MqttConnection, type MqttOptions, type MessageHandler } from "./client.js";
export { startEmbeddedBroker, type EmbeddedBroker, type EmbeddedBrokerOptions } from "./broker.js";
export { topicMatches } from "./topic-filter.js";
