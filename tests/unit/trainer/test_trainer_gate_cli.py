from twin_trainer.cli import main
from twin_trainer.reranker.job import passes_gate


def test_gate_needs_to_beat_plain_retrieval_and_the_champion():
    assert passes_gate(0.70, 0.65, None)
    assert passes_gate(0.70, 0.65, 0.69)
    assert not passes_gate(0.70, 0.65, 0.70)  # a tie keeps the current champion
    assert not passes_gate(0.64, 0.65, None)  # worse than not reranking at all


def test_cli_refuses_a_folder_that_is_not_a_beir_dataset(tmp_path, capsys):
    assert main(["reranker", "--dataset", str(tmp_path), "--out", str(tmp_path / "out")]) == 2
    assert "corpus.jsonl is missing" in capsys.readouterr().err
    assert not (tmp_path / "out").exists()
