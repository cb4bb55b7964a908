"""One Functions blueprint per trigger; the only modules that import azure.functions."""
