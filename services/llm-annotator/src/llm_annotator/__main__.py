from llm_annotator.server import main

main()
