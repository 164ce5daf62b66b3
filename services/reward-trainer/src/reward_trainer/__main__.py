from reward_trainer.server import main

main()
