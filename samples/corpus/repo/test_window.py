from kettle import LatencyWindow


def test_percentiles_of_a_small_window():
    window = LatencyWindow(size=4)
    for value in (10, 20, 30, 40, 50):
        window.add(value)
    assert window.percentile(50) == 30
    assert window.percentile(100) == 50
