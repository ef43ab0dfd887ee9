"""Hidden tests of EarlyStopping.step (notebook 05)."""


def test_early_stopping_on_accuracy(mlp):
    stopper = mlp.EarlyStopping(patience=3, mode="max")
    values = [0.50, 0.62, 0.61, 0.62, 0.70, 0.69, 0.69, 0.70]
    decisions = [bool(stopper.step(v)) for v in values]
    assert decisions == [False] * 7 + [True], (
        f"EarlyStopping(patience=3, mode='max') on {values}: stop decisions {decisions}, expected True only at "
        "the 8th epoch (3 epochs without a strict improvement on 0.70)"
    )
    assert stopper.best == 0.70 and stopper.best_epoch == 5, (
        f"EarlyStopping: best {stopper.best} at epoch {stopper.best_epoch}, expected 0.70 at epoch 5"
    )


def test_early_stopping_on_loss_with_min_delta(mlp):
    stopper = mlp.EarlyStopping(patience=2, mode="min", min_delta=0.05)
    values = [1.0, 0.97, 0.90, 0.88, 0.87]
    decisions = [bool(stopper.step(v)) for v in values]
    assert decisions == [False, False, False, False, True], (
        f"EarlyStopping(patience=2, mode='min', min_delta=0.05) on {values}: stop decisions {decisions}, "
        "expected True only at the 5th epoch (improvements smaller than min_delta do not count)"
    )
    assert stopper.best == 0.90 and stopper.best_epoch == 3, (
        f"EarlyStopping: best {stopper.best} at epoch {stopper.best_epoch}, expected 0.90 at epoch 3"
    )
