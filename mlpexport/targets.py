"""The registry of export targets: name -> the module that renders and runs it.

Kept apart from `mlpexport.emit` (which imports numpy) so that the command line's help
can list the targets without importing anything heavy. A test may register a target
object under a new name (`monkeypatch.setitem(TARGETS, name, module)`).
"""
TARGETS = {
    "numpy": "mlpexport.emit.numpy",
    "onnx": "mlpexport.emit.onnx",
    "matlab": "mlpexport.emit.matlab",
    "c": "mlpexport.emit.c",
}
