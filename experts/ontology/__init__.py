"""The ontology data model: schema, the default automotive ontology (OBD-II code table +
generated parts catalog). Imports only `experts.core`."""
