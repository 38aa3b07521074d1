"""What every stage shares: params.yaml's schema, the project's paths, file writing, errors, the CLI.

Nothing here imports torch, so the torch-free stages (prepare, classical, report) stay light.
"""
