"""Online models in River's protocol (`learn_one`, `predict_proba_one`), and the pure logic
that turns decisions and their outcomes into training examples. No I/O."""
