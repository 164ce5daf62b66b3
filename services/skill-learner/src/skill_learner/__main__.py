from skill_learner.server import main

main()
