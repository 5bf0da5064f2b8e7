"""The HTTP plumbing every app's views share: permissions, base views, parameter and upload
parsing, pagination and schema helpers. It imports none of the apps built on it."""
