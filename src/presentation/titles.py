"""What the evaluations are called wherever a person reads them. Method titles live with each
method's spec (src/model/methods.py)."""

# In table headers, legends and figure panels.
EVALUATION_TITLES = {"baseline": "Untuned", "classical": "TF-IDF + LR", "finetuned": "Fine-tuned"}
# In sentences.
EVALUATION_NAMES = {
    "baseline": "the untuned model",
    "classical": "TF-IDF + logistic regression",
    "finetuned": "the fine-tuned model",
}
