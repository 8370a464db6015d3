// The readers of archived Qubes XML files (qubes.xml, firewall.xml) and of a session's
// metadata as a whole. Pure: input is bytes/text, output the shared model.
export {
  parseQubesXml,
  danglingReferences,
  DEFAULT_QUBES_XML_LIMITS,
  type ParseQubesXmlOptions,
  type QubesXmlLimits,
} from './qubes-xml.ts';
export {
  parseFirewallXml,
  firewallRuleText,
  DEFAULT_FIREWALL_RULES,
  type ParseFirewallXmlOptions,
} from './firewall-xml.ts';
export { readArchivedMetadata, qubeDirectory } from './metadata.ts';
export { parseSafeXml, decodeXmlBytes, DEFAULT_XML_LIMITS, type XNode, type XmlLimits } from './safe-xml.ts';
