"""The org tree on the API: one org by its code in any form, its children, its breadcrumb, a
search, and the rollup of its subtree (the figures of `cocon rollup --format json`)."""

from __future__ import annotations

from typing import Annotated

import msgspec
from litestar import Request, get
from litestar.di import NamedDependency
from litestar.params import PathParameter, QueryParameter
from sqlmodel import Session

from cocon.api.errors import problems
from cocon.api.schemas import OrgOut, RollupOut, org_out, parent_code
from cocon.fields import parse_year
from cocon.orgs import breadcrumb, children, org_in_scope, search_orgs
from cocon.rights import Right
from cocon.rollup import nodes_to_dicts, rollup_tree
from cocon.web.auth import needs
from cocon.web.scope import allowed_root

READ = needs(Right.READ)
OrgCode = Annotated[str, PathParameter(description="A division code in any form: 330105 or 330105000000")]


def _org(request: Request, session: Session, code: str):
    return org_in_scope(session, code, allowed_root(request, session))


@get("/orgs", sync_to_thread=True, opt=READ, responses=problems(400, 403))
def org_search(
    request: Request,
    session: NamedDependency[Session],
    q: Annotated[str, QueryParameter(description="Part of a name, or the start of a code", max_length=200)],
    limit: Annotated[int, QueryParameter(ge=1, le=100)] = 20,
) -> list[OrgOut]:
    """Find orgs of the token's subtree by name or code, highest level first."""
    root = allowed_root(request, session)
    return [org_out(org, parent_code(org)) for org in search_orgs(session, q, within=root, limit=limit)]


@get("/orgs/{code:str}", sync_to_thread=True, opt=READ, responses=problems(403, 404))
def org_get(code: OrgCode, request: Request, session: NamedDependency[Session]) -> OrgOut:
    """Return one org of the token's subtree."""
    org = _org(request, session, code)
    return org_out(org, parent_code(org))


@get("/orgs/{code:str}/children", sync_to_thread=True, opt=READ, responses=problems(403, 404))
def org_children(code: OrgCode, request: Request, session: NamedDependency[Session]) -> list[OrgOut]:
    """Return the direct children of an org, by code."""
    org = _org(request, session, code)
    return [org_out(child, org.code) for child in children(session, org)]


@get("/orgs/{code:str}/breadcrumb", sync_to_thread=True, opt=READ, responses=problems(403, 404))
def org_breadcrumb(code: OrgCode, request: Request, session: NamedDependency[Session]) -> list[OrgOut]:
    """Return the chain from the province down to the org, as the pages show it."""
    org = _org(request, session, code)
    return [org_out(each, parent_code(each)) for each in breadcrumb(session, org)]


@get("/orgs/{code:str}/rollup", sync_to_thread=True, opt=READ, responses=problems(400, 403, 404))
def org_rollup(
    code: OrgCode,
    request: Request,
    session: NamedDependency[Session],
    year: Annotated[int | None, QueryParameter(description="Only this year (every year without it)")] = None,
    depth: Annotated[int | None, QueryParameter(ge=0, le=4, description="Levels below the org")] = None,
) -> RollupOut:
    """Return the org's rollup: the same figures as `cocon rollup --org … --format json`."""
    org = _org(request, session, code)
    if year is not None:
        parse_year(year)
    roots = rollup_tree(session, org, year, depth)
    return msgspec.convert(nodes_to_dicts(session, roots, year)[0], RollupOut)


ROUTES = [org_search, org_get, org_children, org_breadcrumb, org_rollup]
