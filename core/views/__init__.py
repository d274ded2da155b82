"""What pages draw, computed without Streamlit: the segment table and its filters, the
segment inspector, the latent-map and pitch figures, curves, palettes and heatmap order."""
