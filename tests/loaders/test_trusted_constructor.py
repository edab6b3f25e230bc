"""graph.trusted.constructor: the loaders' generated fast constructors keep `construct`'s contract."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from graph.model import FerpaRights, GuardianOf, GuardianRelationship, Student, edge_from_dict, node_from_dict
from graph.trusted import construct, constructor

T0 = datetime(2025, 8, 15, tzinfo=UTC)


def test_generated_constructor_equals_construct_and_the_validated_record() -> None:
    make = constructor(GuardianOf)
    data = {"id": "guardian_of:oneroster:g:s", "from_id": "g", "to_id": "s", "valid_from": T0,
            "relationship": GuardianRelationship.PARENT, "ferpa_rights": FerpaRights.UNVERIFIED, "source": "oneroster:users.csv"}
    fast = make(**data)
    assert fast == construct(GuardianOf, **data)
    assert fast == edge_from_dict("GUARDIAN_OF", {k: v.value if hasattr(v, "value") else v for k, v in data.items()})
    assert constructor(Student)(id="s1") == node_from_dict("Student", {"id": "s1"})  # defaults filled


def test_generated_constructor_refuses_a_missing_or_unknown_field() -> None:
    make = constructor(Student)
    with pytest.raises(TypeError):
        make(name="no id")
    with pytest.raises(TypeError):
        make(id="s1", nickname="x")
