from evaluator.server import main

main()
