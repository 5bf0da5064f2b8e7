"""The schema class of every API view (kept apart from muses.schema, whose view module
drf-spectacular imports while it loads this class)."""

from drf_spectacular.openapi import AutoSchema

from muses.roles import READ, role_description, role_of


class RoleAutoSchema(AutoSchema):
    """Each operation says which role it needs (muses.roles): in its description, in its
    403 response and as ``x-muses-role`` for tools."""

    def get_operation(self, *args, **kwargs):
        operation = super().get_operation(*args, **kwargs)
        if operation is None:
            return None
        role = role_of(self.view, self.method)
        sentence = role_description(role)
        operation["x-muses-role"] = role
        operation["description"] = f"{operation.get('description', '')}\n\n{sentence}".strip()
        if role != READ:
            forbidden = operation.setdefault("responses", {}).setdefault("403", {})
            forbidden["description"] = f"Not allowed (or a cross-site request). {sentence}"
        return operation
