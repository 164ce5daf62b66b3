from codegen.server import main

main()
