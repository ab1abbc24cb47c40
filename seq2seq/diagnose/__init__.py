"""`seq2seq diagnose`: how far back an Elman RNN, an LSTM and a GRU learn to remember, how their gradients fall
with distance, and what gradient clipping does, measured on a small recall task and written as an HTML page.

`diagnose(Settings(...))` runs the experiments (experiment.py, on the task and models of task.py);
`write_diagnosis(result, out)` writes the page (page.py), whose every sentence is computed from the numbers.
"""

from seq2seq.diagnose.experiment import Diagnosis, Settings, diagnose
from seq2seq.diagnose.page import check_writable, conclusions, write_diagnosis
from seq2seq.diagnose.task import Recurrent, gradient_by_distance, recall_batch

__all__ = ["Diagnosis", "Recurrent", "Settings", "check_writable", "conclusions", "diagnose", "gradient_by_distance",
           "recall_batch", "write_diagnosis"]
