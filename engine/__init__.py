"""goldkey: a workflow engine for property-management procedures declared in YAML."""
