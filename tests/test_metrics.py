"""The metrics collector: plain counters and histograms rendered at scrape time."""

from __future__ import annotations

from prometheus_client.parser import text_string_to_metric_families

from collab.metrics import Metrics


def samples(metrics: Metrics) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    text = metrics.render().decode()
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def test_histograms_count_each_value_in_the_first_bucket_it_fits() -> None:
    metrics = Metrics(lambda: 0, lambda: 0)
    for seconds in (0.0001, 0.0005, 0.003, 2.0):
        metrics.commit_seconds.observe(seconds)
    metrics.commit_batch.observe(3)
    seen = samples(metrics)
    bucket = "collab_commit_seconds_bucket"
    assert seen[(bucket, (("le", "0.0005"),))] == 2  # a bound is inclusive (le)
    assert seen[(bucket, (("le", "0.002"),))] == 2
    assert seen[(bucket, (("le", "0.005"),))] == 3
    assert seen[(bucket, (("le", "1.0"),))] == 3
    assert seen[(bucket, (("le", "+Inf"),))] == 4
    assert seen[("collab_commit_seconds_count", ())] == 4
    assert abs(seen[("collab_commit_seconds_sum", ())] - 2.0036) < 1e-9
    assert seen[("collab_commit_batch_updates_bucket", (("le", "2.0"),))] == 0
    assert seen[("collab_commit_batch_updates_bucket", (("le", "5.0"),))] == 1
    assert seen[("collab_fanout_seconds_count", ())] == 0


def test_message_counters_by_type() -> None:
    metrics = Metrics(lambda: 3, lambda: 7)
    metrics.received(b"\x00\x02\x02\x00\x00")
    update = b"\x00\x02\x02\x00\x00"
    for frame in (update, update, b"\x01\x01\x00", update):  # a broadcast, then others
        metrics.sent(frame)
    metrics.closes[1013] += 1
    seen = samples(metrics)
    assert seen[("collab_messages_received_total", (("type", "update"),))] == 1
    assert seen[("collab_bytes_received_total", (("type", "update"),))] == 5
    assert seen[("collab_messages_sent_total", (("type", "awareness"),))] == 1
    assert seen[("collab_messages_sent_total", (("type", "update"),))] == 3
    assert seen[("collab_bytes_sent_total", (("type", "update"),))] == 15
    assert seen[("collab_closes_total", (("code", "1013"),))] == 1
    assert seen[("collab_open_rooms", ())] == 3
    assert seen[("collab_peers", ())] == 7
