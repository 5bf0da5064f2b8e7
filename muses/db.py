"""Query helpers shared by the apps: what the ORM lacks for lists of thousands of values."""

from django.db.models import F, Lookup


class AnyOf(Lookup):
    """``column = ANY(%s::type[])`` with the values as one array parameter on PostgreSQL,
    where ``IN (%s, %s, ...)`` makes psycopg parse a query of 5,000 placeholders on every
    call (too long for its cache: ~0.15 s a query here); a plain IN elsewhere."""

    lookup_name = "any_of"
    prepare_rhs = False

    def __init__(self, lhs, rhs):
        super().__init__(lhs, rhs)
        self.values = list(rhs)  # kept apart: resolving wraps the rhs in an expression

    def as_sql(self, compiler, connection):
        lhs, params = self.process_lhs(compiler, connection)
        values = self.values
        if connection.vendor == "postgresql" and values:
            # Typed as the column: psycopg would send small ints as int4[], and bigint =
            # ANY(int4[]) is planned without the index (a second instead of 20 ms).
            column_type = self.lhs.output_field.db_type(connection)
            return f"{lhs} = ANY(%s::{column_type}[])", [*params, values]
        return f"{lhs} IN ({', '.join(['%s'] * len(values)) or 'NULL'})", [*params, *values]


def any_of(field_name: str, values: list) -> AnyOf:
    """A filter() argument: field_name's value is one of values."""
    return AnyOf(F(field_name), list(values))
