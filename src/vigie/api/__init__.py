"""HTTP API: thin translation of JSON and FHIR requests into service calls."""
