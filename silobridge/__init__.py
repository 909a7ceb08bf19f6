"""silobridge's application layer: settings, the pipeline steps and the `silobridge` command.

DAG files and the CLI call the step functions here; the steps call connectors, quality
and warehouse. Nothing below this package imports it.
"""
