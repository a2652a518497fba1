"""A chaos run's result as Markdown: the checks, the outcomes and every fault with its time."""

from __future__ import annotations

from typing import Any


def summary(result: dict[str, Any]) -> str:
    c = result.get("checks", {})
    rows = [
        ("lost (neither delivered nor ended with a reason)", c.get("lost")),
        (
            "failed for a cause the run did not inject (not the sinks' refusals)",
            c.get("failed_without_an_injected_cause"),
        ),
        ("duplicate (per recipient, event and channel)", c.get("duplicate")),
        (
            "  of which the same Message-ID / client_id again",
            c.get("repeats_with_the_same_message_id"),
        ),
        ("messages no request explains", c.get("unexplained_messages")),
        ("sent after a revocation", c.get("sent_after_revocation")),
        ("sent to a contact replaced before the send", c.get("sent_to_replaced_contact")),
        ("sent without consent (paper, refused, no answer)", c.get("sent_without_consent")),
        (
            "poison messages dead-lettered",
            f"{c.get('poison_dead_lettered')} of {c.get('poison_messages')}",
        ),
        ("deadline missed", c.get("deadline_missed")),
        (
            "digest read model: documents differing from one rebuilt from the topics",
            c.get("digest", {}).get("differing"),
        ),
    ]
    faults = "\n".join(
        f"| {f['at']} | {f['kind']} | {f['target']} | {f['detail']} |" for f in result["faults"]
    )
    return (
        f"# Chaos run {result['date']}\n\n"
        f"{result['journal_items']} journal items for {result['students']} students in "
        f"{result['schools']} schools (guardians: {result['guardians']}), seed "
        f"{result['seed']}, each service killed {result.get('kills_each', 3)} times (the "
        "notifier once more while sending); "
        f"{c.get('requests')} notices requested {c.get('requests_by_channel')}, "
        f"{c.get('messages_received')} e-mails and SMS received; quiet after "
        f"{result.get('quiet_seconds', float('nan')):.0f} s.\n\n"
        f"**{'PASSED' if c.get('passed') else 'FAILED'}**\n\n| check | count |\n|---|---|\n"
        + "\n".join(f"| {name} | {value} |" for name, value in rows)
        + f"\n\nOutcomes: {c.get('outcomes')}\n\n"
        f"| at (UTC) | fault | target | detail |\n|---|---|---|---|\n{faults}\n"
    )
