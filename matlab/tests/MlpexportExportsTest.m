classdef MlpexportExportsTest < matlab.unittest.TestCase
    %MLPEXPORTEXPORTSTEST  matlab.unittest suite for the mlpexport exports in a folder.
    %   In MATLAB (R2016b+), with matlab/ and matlab/tests on the path:
    %       setenv('MLPEXPORT_EXPORTS', 'path/to/exports');  % default: current folder
    %       results = runtests('MlpexportExportsTest')
    %   Each test method runs one test of mlpexport_test_exports on every export
    %   in the folder and verifies each result, so a failure names the export.
    %   GNU Octave has no matlab.unittest: there, call mlpexport_test_exports(FOLDER),
    %   the function-based runner these methods call, directly.

    properties
        Folder
    end

    methods (TestClassSetup)

        function findFolder(testCase)
            testCase.Folder = getenv('MLPEXPORT_EXPORTS');
            if isempty(testCase.Folder)
                testCase.Folder = pwd;
            end
        end

    end

    methods (Test)

        function verifyAgainstScikitLearn(testCase)
            testCase.check('verify');
        end

        function vectorIsOneSample(testCase)
            testCase.check('vector');
        end

        function badShapeIsRefused(testCase)
            testCase.check('badShape');
        end

        function textIsRefused(testCase)
            testCase.check('notNumeric');
        end

        function infinityIsRefused(testCase)
            testCase.check('nonFinite');
        end

        function textInNumberFieldIsRefused(testCase)
            testCase.check('charField');
        end

    end

    methods (Access = private)

        function check(testCase, kind)
            results = mlpexport_test_exports(testCase.Folder, kind);
            for i = 1:numel(results)
                r = results(i);
                testCase.verifyTrue(r.passed, sprintf('%s %s: %s', r.name, kind, r.message));
            end
        end

    end
end
