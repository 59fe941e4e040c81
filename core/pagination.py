"""The API's one limit/offset pagination (API.md, Conventions: `?limit=`, `?offset=`).

django-ninja's own, with `offset` bounded by what a database can take: OFFSET is a
signed 64-bit integer in SQLite and PostgreSQL, so 2^63 and past it answered 500
(SQLite's OverflowError, PostgreSQL's out-of-range). Bounded in the schema, such an
offset is a 422 like any other invalid parameter, and the OpenAPI schema says so.
"""

from __future__ import annotations

from django.conf import settings
from ninja import Field, Schema
from ninja.pagination import LimitOffsetPagination as NinjaLimitOffsetPagination

MAX_OFFSET = 2**63 - 1


class LimitOffsetPagination(NinjaLimitOffsetPagination):
    class Input(Schema):
        limit: int = Field(
            settings.NINJA_PAGINATION_PER_PAGE, ge=1, le=settings.NINJA_PAGINATION_MAX_LIMIT
        )
        offset: int = Field(0, ge=0, le=MAX_OFFSET)
