from omnisearch.retrieval.lexical import lexical_overlap, words


def naive_overlap(query: str, text: str) -> float:
    import re

    stop = {"the", "a", "of", "on", "in"}
    q = {w.lower() for w in re.findall(r"[A-Za-z0-9]+", query) if w.lower() not in stop}
    t = {w.lower() for w in re.findall(r"[A-Za-z0-9]+", text)}
    return len(q & t) / len(q) if q else 0.0


def test_overlap_matches_naive_reference_on_ascii():
    cases = [
        ("PARIS", "the screen shows PARIS"),
        ("seven apples on the table", "Seven green apples are lying on the kitchen table."),
        ("dog", "cat"),
        ("the", "the"),
        ("Berlin 2024", "berlin in 2024!"),
    ]
    for q, t in cases:
        assert lexical_overlap(q, t) == naive_overlap(q, t), (q, t)


def test_case_punctuation_and_unicode():
    assert lexical_overlap("Café", "CAFÉ au lait") == 1.0
    assert lexical_overlap("snake_case", "snake case") == 1.0
    assert words("The Quick, brown fox!") == ["quick", "brown", "fox"]
    assert lexical_overlap("", "anything") == 0.0
