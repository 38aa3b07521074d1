"""How results are shown: the names of the evaluations, the markdown report and tables, and the
matplotlib figures. Formatting only: the numbers come from the metrics files the stages wrote."""
