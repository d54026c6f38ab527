export { aclRules, createAcl, filterCovers, identityFromName, ID_PLACEHOLDER, MANAGER_IDENTITY, type Acl, type AclRules, type BrokerIdentity } from "./acl.js";
export { createBrokerSecurity, type BrokerSecurity, type BrokerSecurityOptions, type SecurityHooks } from "./aedes-hooks.js";
export { credentialsFrom, generatePassword, hashPassword, loadCredentials, verifyPassword, CredentialError, type CredentialStore } from "./credentials.js";
export { brokerTlsOptions, secureEmbeddedBrokerOptions, type BrokerTlsOptions } from "./tls.js";
export {
  mosquittoAclFile,
  mosquittoConfig,
  writeMosquittoConfig,
  BrokerConfigError,
  MOSQUITTO_MAX_QUEUED_MESSAGES,
  type MosquittoConfigOptions,
  type WriteMosquittoConfigOptions,
} from "./mosquitto-config.js";
export { natsConfig, natsSubjectForTopic, natsUserForCertificate, natsUsers, NATS_QOS1_DELIVERY_SUBJECTS, writeNatsConfig, type NatsConfigOptions, type NatsUser } from "./nats-config.js";
export { rabbitConfig, rabbitDefinitions, rabbitRoutingKeyForTopic, writeRabbitConfig, type RabbitConfigOptions, type RabbitDefinitions, type RabbitDefinitionsOptions } from "./rabbitmq-config.js";
