from datetime import date

from schemas.membership import ClassRoster, Curriculum, concerned_students

TERM = (date(2026, 9, 1), date(2026, 12, 28))
ROSTER = ClassRoster(
    student_ids=frozenset({"anna", "boris", "vera", "gleb"}),
    groups={"en-1": frozenset({"anna", "boris"}), "en-2": frozenset({"vera"})},
    # Gleb learns English with group 2 and has no music on his individual curriculum.
    curricula={"gleb": Curriculum(*TERM, frozenset({"math", "en"}), frozenset({"en-2"}))},
)
DAY = date(2026, 12, 1)


def test_a_whole_class_fact_concerns_everyone_whose_curriculum_has_the_subject() -> None:
    math = concerned_students(ROSTER, group_id=None, subject_id="math", on=DAY)
    music = concerned_students(ROSTER, group_id=None, subject_id="music", on=DAY)
    assert math == ["anna", "boris", "gleb", "vera"]
    assert music == ["anna", "boris", "vera"]


def test_a_group_fact_concerns_its_members_and_those_placed_in_it_by_their_curriculum() -> None:
    assert concerned_students(ROSTER, group_id="en-1", subject_id="en", on=DAY) == [
        "anna",
        "boris",
    ]
    assert concerned_students(ROSTER, group_id="en-2", subject_id="en", on=DAY) == ["gleb", "vera"]
    assert concerned_students(ROSTER, group_id="unknown", subject_id="en", on=DAY) == []


def test_a_curriculum_out_of_force_changes_nothing() -> None:
    after = date(2027, 1, 15)
    assert "gleb" in concerned_students(ROSTER, group_id=None, subject_id="music", on=after)
    assert "gleb" not in concerned_students(ROSTER, group_id="en-2", subject_id="en", on=after)
