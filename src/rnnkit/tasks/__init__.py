"""Tasks: each binds a data source, a model, a loss and metrics; the CLI is a thin layer over them."""
