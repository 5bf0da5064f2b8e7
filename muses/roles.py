"""Who may do what through the API: three roles on Django's permissions and groups.

* read: any authenticated user (a token given to a script or a volunteer): look, search,
  predict.
* label: the permission ``custom_tagging.label`` (group "Labellers"): add images, assign,
  train, create and edit tags, activate versions, cancel jobs.
* curate: staff, or the permission ``custom_tagging.curate`` (group "Curators"): delete or
  reset a tag, replace (``/set_state``) or download (``/get_state``) every tag at once.

A curator may label too. Superusers (the demo's admin) hold every permission. With
MUSES_API_OPEN=1 there are no users to tell apart, so every call is allowed.
"""

from django.conf import settings
from rest_framework.permissions import BasePermission

READ, LABEL, CURATE = "read", "label", "curate"
PERMISSIONS = {LABEL: "custom_tagging.label", CURATE: "custom_tagging.curate"}
GROUPS = {"Labellers": (LABEL,), "Curators": (LABEL, CURATE)}
WHO = {
    READ: "any user with a token",
    LABEL: "a user in the 'Labellers' or 'Curators' group (permission custom_tagging.label)",
    CURATE: "a staff user or one in the 'Curators' group (permission custom_tagging.curate)",
}


def user_has_role(user, role: str) -> bool:
    if role == READ:
        return bool(user and user.is_authenticated)
    if not (user and user.is_authenticated and user.is_active):
        return False
    if user.is_staff or user.has_perm(PERMISSIONS[CURATE]):
        return True  # a curator labels as well
    return role == LABEL and user.has_perm(PERMISSIONS[LABEL])


def role_of(view, method: str) -> str:
    """The role a view's method needs: ``view.roles`` maps methods to roles; reading is
    the default."""
    return getattr(view, "roles", {}).get(method.upper(), READ)


def role_description(role: str) -> str:
    return f"Needs the '{role}' role: {WHO[role]}."


class HasRole(BasePermission):
    """403 {"detail": ...} naming the role, the group that grants it, and the user."""

    def has_permission(self, request, view) -> bool:
        if settings.MUSES_API_OPEN:
            return True
        role = role_of(view, request.method)
        if user_has_role(request.user, role):
            return True
        self.message = (
            f"The user {request.user.get_username()!r} may not do this. "
            f"{role_description(role)} Ask an administrator to add the user to that group."
        )
        return False


def role_groups_ensure(*, using: str = "default") -> None:
    """The groups "Labellers" and "Curators" with their permissions, made if missing."""
    from django.contrib.auth.models import Group, Permission

    codenames = {role: name.split(".")[1] for role, name in PERMISSIONS.items()}
    for group_name, roles in GROUPS.items():
        group, _ = Group.objects.using(using).get_or_create(name=group_name)
        wanted = Permission.objects.using(using).filter(
            content_type__app_label="custom_tagging",
            codename__in=[codenames[role] for role in roles],
        )
        group.permissions.add(*wanted)
