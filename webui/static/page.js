() => {
  // The page's small behaviours that Gradio's components do not have (loaded by webui/look.py).
}
