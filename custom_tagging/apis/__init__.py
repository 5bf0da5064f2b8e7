"""The Customized Training HTTP API, one module per resource: each holds the seed's path
(`customized-training.rst`) beside its REST counterpart under /api/, both calling the same
service. The seed calls the state-changing operations with GET; they accept POST as well."""
