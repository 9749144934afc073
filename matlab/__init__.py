"""The hand-written MATLAB code of mlpexport (this folder is its one source). Python
installs it as the package mlpexport.matlab, whose data are the .m files here; see
setup.py and README.md's MATLAB section."""
