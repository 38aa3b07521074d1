import numpy as np
import pytest

from src.core.params import ModelParams
from src.model.inference import predict_proba
from src.model.pretrained import load_classifier, load_tokenizer


@pytest.fixture(scope="module")
def tiny(tiny_bert_dir):
    params = ModelParams(name=str(tiny_bert_dir), revision="main", max_length=16, head_seed=0)
    return load_classifier(params, ["a", "b", "c"]), load_tokenizer(params)


def test_probabilities_come_back_in_input_order(tiny):
    model, tokenizer = tiny
    texts = ["a much longer sentence than the others by far", "short", "medium length one", "x", "two words"]
    batched = predict_proba(model, tokenizer, texts, batch_size=2, max_length=16)
    one_by_one = np.concatenate([predict_proba(model, tokenizer, [t], batch_size=1, max_length=16) for t in texts])
    np.testing.assert_allclose(batched, one_by_one, atol=1e-5)
    np.testing.assert_allclose(batched.sum(axis=1), 1.0, atol=1e-5)


def test_texts_are_truncated_to_max_length(tiny):
    model, tokenizer = tiny
    long_text = "word " * 100
    seen = []

    def record_shape(module, args, output):
        seen.append(output.shape)

    hook = model.bert.embeddings.register_forward_hook(record_shape)
    try:
        predict_proba(model, tokenizer, [long_text], batch_size=1, max_length=16)
    finally:
        hook.remove()
    assert seen[0][1] == 16
